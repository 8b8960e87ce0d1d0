"""kreislauf.hil"""
