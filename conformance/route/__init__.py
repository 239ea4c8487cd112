"""Routing: FIBs, interface address routes, route(8) and MTU configuration."""
