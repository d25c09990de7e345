"""lava-msf's Lava processes, one package each (process.py + models.py only:
Lava's compiler executes every module in a process's directory)."""
