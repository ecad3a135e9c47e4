"""univs.engine"""
