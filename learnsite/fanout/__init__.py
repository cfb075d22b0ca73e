"""Fan-out: one Redis subscription per channel and process, shared by every viewer.

``hub`` runs the subscriptions and hands each viewer typed ``frames``; ``viewer`` is one
connected stream; ``source`` is a subscription that notices when Redis goes away;
``presence`` counts viewers across processes. What a channel carries (a live feed, a
chat room) is up to the app that builds the hub.
"""
