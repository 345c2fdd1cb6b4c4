"""The cluster agent, in controller-runtime's shape without a framework.

Layers, lowest first (import-linter's ``cluster layers`` contract enforces the order)::

    manager      wires everything; leadership; no logic of its own
    chassis | pools | power
                 one controller per concern, each over the shared cache, each with its own
                 lock and narrow dependencies; informer events only enqueue their work
    informer | specs | nodes | owned | secrets
                 following the API into the cache; parsed specs per namespace; node memory;
                 owned objects; Secret cache
    writer | workqueue | powergate | powerledger
                 the one way to write (leader only; cache updated from the answer); dirty keys;
                 who may talk to which chassis for power; what power actions did
    cache | status | settings
                 the shared store; pure status helpers (conditions, stamps, PowerPhase)
"""
