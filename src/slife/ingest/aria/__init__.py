"""Project Aria inputs: the FisheyeRadTanThinPrism model, MPS readers and per-frame geometry."""
