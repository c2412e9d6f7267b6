"""Serving: the prediction service, its strategies, its log, its fast path."""
