"""The tools other tests skip without: headless Chromium with
playwright-core and hls.js (the browser tests), ustreamer (the
comparisons), an x264 build (every H.264 test).  make deps installs them
all, so after it a missing one is a failure here rather than tests
skipped in silence.  SHMCAM_ALLOW_MISSING_TOOLS=1 allows them missing
(a machine where make deps cannot run)."""

import os
import shutil
import unittest

from h264tools import X264
from shmcam import ROOT

BROWSER_MODULES = os.path.join(ROOT, "tests", "browser", "node_modules")


@unittest.skipIf(os.environ.get("SHMCAM_ALLOW_MISSING_TOOLS") == "1",
                 "SHMCAM_ALLOW_MISSING_TOOLS=1")
class ToolsTest(unittest.TestCase):
    def test_browser_tools(self):
        for prog in ("chromium", "node"):
            self.assertTrue(shutil.which(prog), "%s is missing: make deps"
                            % prog)
        for mod in ("playwright-core", "hls.js"):
            self.assertTrue(os.path.isdir(os.path.join(BROWSER_MODULES, mod)),
                            "tests/browser/node_modules/%s is missing: "
                            "make deps (npm ci there)" % mod)

    def test_players_and_baselines(self):
        for prog in ("ffmpeg", "ffprobe", "gst-launch-1.0", "cvlc",
                     "ustreamer", "nginx"):
            self.assertTrue(shutil.which(prog) or
                            os.path.exists("/usr/sbin/" + prog),
                            "%s is missing: make deps" % prog)

    def test_capture_built_with_x264(self):
        self.assertTrue(X264, "the capture was built without x264: "
                        "make deps installs libx264-dev")


if __name__ == "__main__":
    unittest.main()
