"""An MCP server over the history, so agents can recall their own past sessions.

`agent-history mcp` serves it on stdio. Only this package imports the MCP SDK, and only
the `mcp` command imports this package: the editor sidecar's cold start never pays for it.
"""
