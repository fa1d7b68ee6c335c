"""robusta_bench.features"""
