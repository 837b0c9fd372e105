"""Test-session settings shared by every test."""

import os

# Quiet TensorFlow's C++ logging and keep it on the CPU, in the tests and any subprocess.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
