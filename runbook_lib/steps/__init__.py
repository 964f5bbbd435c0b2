"""One module per notebook: the functions its cells call, dispatched on ``params.target``.

Cells stay thin; each calls one of these functions. Every step records its
result with :func:`runbook_lib.runstate.record_result` for the steps after it.
"""
