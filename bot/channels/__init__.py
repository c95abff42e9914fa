"""Channel adapters: one module per platform; they translate, never decide."""
