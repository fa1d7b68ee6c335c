"""robusta_bench.distribute"""
