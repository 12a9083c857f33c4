"""rtl_jax: Routing the Lottery (adaptive lottery tickets) in JAX/Flax."""
__version__ = "0.1.0"
