"""Host-side encoding and decoding of the dense tasks (numpy only): used by
torch training and evaluation and by the Lava run and stream alike, so that
both sides turn the network's one output layer into boxes or masks the same way."""
