"""Monitoring statistics: input and prediction drift, online performance, stability, usage."""
