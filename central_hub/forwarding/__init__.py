"""forwarding"""
