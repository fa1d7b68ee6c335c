"""robusta_bench.cli"""
