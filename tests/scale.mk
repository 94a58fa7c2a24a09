# make check-scale: LL-HLS to hundreds of viewers through two nginx edges
# (docs/examples/nginx-hls-edge.conf) in network namespaces, over
# simulated wide-area links (tests/scale/test_scale.py).  Needs root; a
# few minutes.  The figures go to $(BUILD)/scale.txt and scale.json.
.PHONY: check-scale
check-scale: all $(TEST_BINS)
	cd tests/scale && $(TEST_ENV) timeout 900 $(PYTHON) -m unittest -v test_scale
