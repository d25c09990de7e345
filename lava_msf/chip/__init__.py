"""What a Loihi-class chip needs (numpy only): chip-mappable decompositions of
the layer types a chip has no process for, the Loihi 2 target's documented
limits and the resource report of `lava-msf inspect`."""
