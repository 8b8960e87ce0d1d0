"""kreislauf.fmu"""
