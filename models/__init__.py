"""kreislauf.models"""
