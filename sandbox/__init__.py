"""Local stand-ins for the paid services mpanel talks to, each speaking the real protocol.

One package per stand-in (``stripe``, ``whm``, ``namesilo``), each started with
``python -m sandbox.<name>``; ``common`` holds what they share.
"""
