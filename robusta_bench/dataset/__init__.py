"""robusta_bench.dataset"""
