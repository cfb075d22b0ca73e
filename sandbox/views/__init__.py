"""Views of the sandbox, one module per piece: playground, chat, demo."""
