"""robusta_bench.evaluation"""
