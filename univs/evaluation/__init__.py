"""univs.evaluation"""
