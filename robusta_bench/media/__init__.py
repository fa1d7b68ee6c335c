"""robusta_bench.media"""
