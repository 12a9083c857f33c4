"""Test configuration: CPU only, 8 simulated devices for the sharded code paths (set before jax loads)."""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("RTL_PROGRESS", "0")
# One XLA compilation cache per test session: identical programs (the GhostNet steps of the vision
# modules' several stages) compile once.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="rtl_jax_xla_")
