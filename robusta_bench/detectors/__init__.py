"""robusta_bench.detectors"""
