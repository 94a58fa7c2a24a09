"""A strict checker of shmcam's LL-HLS media playlists, against
draft-pantos-hls-rfc8216bis (section numbers in the messages) and against
what the server promises beyond it (server/hls.h): every playlist alone,
and every playlist against all the ones the same checker saw before, over
restarts of the server.

    c = PlaylistChecker()
    pl = c.check(text)                 # raises PlaylistError
    pl = c.check(text, msn=N, part=P)  # the answer to a blocking reload
    c.server_restarted()               # numbers may jump (upwards only)

Alone (4.3, 4.4): #EXTM3U first; every tag known, with its attributes
well formed; the playlist tags once each, before any segment; no
EXT-X-ENDLIST or EXT-X-PLAYLIST-TYPE (6.2.2: a live playlist);
EXT-X-MAP before the first segment; EXTINF rounded to whole seconds no
more than EXT-X-TARGETDURATION (4.4.3.1); a part no longer than
PART-TARGET (4.4.4.9), and at least 85 % of it unless INDEPENDENT or the
last of its segment (kept apart as `short_parts`: one frame lost makes
such a part, see below); a segment's parts add up to its EXTINF; its
first part INDEPENDENT=YES (EXT-X-INDEPENDENT-SEGMENTS); part tags only
on the playlist's last three target durations, and on every segment
there (6.2.2); PART-HOLD-BACK at least twice PART-TARGET (4.4.3.8); one
EXT-X-PRELOAD-HINT of TYPE=PART naming the part after the last one; an
EXT-X-PROGRAM-DATE-TIME on every segment, increasing; names as hls.h
makes them (a part's first frame, a segment's first and last), a
segment's name matching its parts.

Across playlists: EXT-X-MEDIA-SEQUENCE and EXT-X-DISCONTINUITY-SEQUENCE
never decrease (6.2.2), across restarts too; a media sequence number
never names two segments, a name never two durations or first frames
(hls.h: a cache never sees one name with two contents); within a run, a
segment keeps its number and its discontinuity sequence number;
EXT-X-TARGETDURATION and PART-TARGET never change (6.2.1, 4.4.3.7); a
blocking reload's answer holds the segment or part it asked for
(6.2.5.2).

The 85 % floor is reported rather than enforced: a part is cut short
when a frame arrives so late that the part holding it would outlast
PART-TARGET (server/hls.c, hls_cut_decide()), which a loaded machine
does to the test pattern now and then; the ceiling, which players rely
on, is enforced.
"""

import datetime
import re

# Known tags: what shmcam writes, and the others of the draft a live
# media playlist may carry.  Anything else is an error.
PLAYLIST_TAGS = ("EXT-X-VERSION", "EXT-X-TARGETDURATION",
                 "EXT-X-MEDIA-SEQUENCE", "EXT-X-DISCONTINUITY-SEQUENCE",
                 "EXT-X-INDEPENDENT-SEGMENTS", "EXT-X-SERVER-CONTROL",
                 "EXT-X-PART-INF")
SEGMENT_TAGS = ("EXTINF", "EXT-X-DISCONTINUITY", "EXT-X-MAP",
                "EXT-X-PROGRAM-DATE-TIME", "EXT-X-PART", "EXT-X-GAP")
FORBIDDEN = ("EXT-X-ENDLIST", "EXT-X-PLAYLIST-TYPE", "EXT-X-I-FRAMES-ONLY")

PART_RE = re.compile(r"^hls/p([0-9a-f]{16})-([1-9][0-9]*)\.m4s$")
SEG_RE = re.compile(r"^hls/s([0-9a-f]{16})-([1-9][0-9]*)-([1-9][0-9]*)\.m4s$")
INIT_RE = re.compile(r"^hls/init-([0-9a-f]{16})\.mp4$")
ATTR_RE = re.compile(r'([A-Z0-9-]+)=("[^"\r\n]*"|[^",]*)(?:,|$)')
DEC_RE = re.compile(r"^(0|[1-9][0-9]{0,19})$")
FLOAT_RE = re.compile(r"^[0-9]+(\.[0-9]+)?$")
EPS = 1e-6


class PlaylistError(AssertionError):
    pass


def attributes(value, where):
    """An attribute list (4.2) as a dict; strict about its form."""
    out = {}
    pos = 0
    while pos < len(value):
        m = ATTR_RE.match(value, pos)
        if not m:
            raise PlaylistError("%s: bad attribute list at %r"
                                % (where, value[pos:]))
        name, v = m.group(1), m.group(2)
        if name in out:
            raise PlaylistError("%s: attribute %s twice" % (where, name))
        out[name] = v[1:-1] if v.startswith('"') else v
        pos = m.end()
    if value.endswith(","):
        raise PlaylistError("%s: trailing comma" % where)
    return out


def number(v, where):
    if not FLOAT_RE.match(v):
        raise PlaylistError("%s: %r is not a decimal number" % (where, v))
    return float(v)


def integer(v, where):
    if not DEC_RE.match(v) or int(v) >= 2 ** 64:
        raise PlaylistError("%s: %r is not a decimal-integer" % (where, v))
    return int(v)


class Part:
    __slots__ = ("uri", "duration", "independent", "gen", "first")


class Segment:
    __slots__ = ("msn", "dsn", "uri", "duration", "parts", "pdt",
                 "discontinuity", "map", "gen", "first", "last")

    def __init__(self):
        self.uri = None
        self.duration = None
        self.parts = []
        self.pdt = None
        self.discontinuity = False
        self.map = None


class Playlist:
    def __init__(self):
        self.tags = {}
        self.segments = []          # complete ones, then one in progress
        self.hint = None

    @property
    def complete(self):
        return [s for s in self.segments if s.uri is not None]

    def last_part(self):
        """(msn, index) of the newest part listed, or None."""
        for s in reversed(self.segments):
            if s.parts:
                return s.msn, len(s.parts) - 1
        return None


def parse(text):
    """A Playlist, or PlaylistError for anything malformed."""
    if not text.endswith("\n"):
        raise PlaylistError("the playlist does not end with a newline")
    lines = text.split("\n")[:-1]
    if not lines or lines[0] != "#EXTM3U":
        raise PlaylistError("4.3.1.1: the first line is not #EXTM3U")
    pl = Playlist()
    cur = Segment()
    cur_map = None
    started = False
    for no, line in enumerate(lines[1:], 2):
        where = "line %d" % no
        if line == "":
            raise PlaylistError("%s: blank line" % where)
        if line != line.strip():
            raise PlaylistError("%s: white space around %r" % (where, line))
        if not line.startswith("#"):
            # A URI: the segment ends here (4.3.2).
            if cur.duration is None:
                raise PlaylistError("%s: URI without EXTINF" % where)
            cur.uri = line
            cur.map = cur_map
            pl.segments.append(cur)
            cur = Segment()
            continue
        if not line.startswith("#EXT"):
            continue                # a comment
        if pl.hint is not None:
            raise PlaylistError("%s: %s after EXT-X-PRELOAD-HINT"
                                % (where, line))
        name, _, value = line[1:].partition(":")
        if name in FORBIDDEN:
            raise PlaylistError("%s: %s in a live playlist (6.2.2)"
                                % (where, name))
        if name in PLAYLIST_TAGS:
            if started:
                raise PlaylistError("%s: %s after the first segment's tags"
                                    % (where, name))
            if name in pl.tags:
                raise PlaylistError("%s: %s twice" % (where, name))
            pl.tags[name] = value
            continue
        if name == "EXT-X-PRELOAD-HINT":
            a = attributes(value, where)
            if set(a) != {"TYPE", "URI"} or a["TYPE"] != "PART":
                raise PlaylistError("%s: a hint other than TYPE=PART,URI "
                                    "(4.4.5.3): %r" % (where, value))
            pl.hint = a["URI"]
            continue
        if name not in SEGMENT_TAGS:
            raise PlaylistError("%s: unknown tag %s" % (where, name))
        started = True
        if name == "EXTINF":
            d, comma, _title = value.partition(",")
            if not comma:
                raise PlaylistError("%s: EXTINF without a comma" % where)
            if cur.duration is not None:
                raise PlaylistError("%s: EXTINF twice" % where)
            cur.duration = number(d, where)
        elif name == "EXT-X-DISCONTINUITY":
            if value or cur.discontinuity:
                raise PlaylistError("%s: bad EXT-X-DISCONTINUITY" % where)
            cur.discontinuity = True
        elif name == "EXT-X-MAP":
            a = attributes(value, where)
            if set(a) != {"URI"} or not INIT_RE.match(a["URI"]):
                raise PlaylistError("%s: EXT-X-MAP %r" % (where, value))
            if cur.parts:
                raise PlaylistError("%s: EXT-X-MAP between parts" % where)
            cur_map = a["URI"]
        elif name == "EXT-X-PROGRAM-DATE-TIME":
            if cur.pdt is not None or cur.parts:
                raise PlaylistError("%s: EXT-X-PROGRAM-DATE-TIME misplaced"
                                    % where)
            try:
                cur.pdt = datetime.datetime.strptime(
                    value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                        tzinfo=datetime.timezone.utc).timestamp()
            except ValueError:
                raise PlaylistError("%s: date %r" % (where, value))
        elif name == "EXT-X-PART":
            a = attributes(value, where)
            if not set(a) <= {"DURATION", "URI", "INDEPENDENT"} or \
                    not {"DURATION", "URI"} <= set(a):
                raise PlaylistError("%s: EXT-X-PART %r" % (where, value))
            p = Part()
            p.uri = a["URI"]
            p.duration = number(a["DURATION"], where)
            if a.get("INDEPENDENT", "YES") != "YES":
                raise PlaylistError("%s: INDEPENDENT=%s" % (where,
                                                            a["INDEPENDENT"]))
            p.independent = "INDEPENDENT" in a
            m = PART_RE.match(p.uri)
            if not m:
                raise PlaylistError("%s: part name %r" % (where, p.uri))
            p.gen, p.first = m.group(1), int(m.group(2))
            if cur.map is None:
                cur.map = cur_map
            cur.parts.append(p)
        elif name == "EXT-X-GAP":
            raise PlaylistError("%s: EXT-X-GAP (shmcam marks no gaps)"
                                % where)
    if cur.duration is not None:
        raise PlaylistError("the playlist ends after an EXTINF")
    if cur.parts:
        cur.map = cur_map
        pl.segments.append(cur)
    elif cur.discontinuity or cur.pdt is not None:
        raise PlaylistError("segment tags with neither parts nor URI at "
                            "the end")
    return pl


class PlaylistChecker:
    def __init__(self, strict_floor=False):
        self.strict_floor = strict_floor
        self.seen = 0
        self.short_parts = []       # (uri, duration, part target)
        self.msn_uri = {}           # every run: number -> segment name
        self.run_msn = {}           # this run: segment name -> numbers
        self.part_dur = {}          # every run: part name -> duration
        self.seg_first = {}
        self.last_media_seq = None
        self.last_disc_seq = None
        self.target = None
        self.part_target = None

    def server_restarted(self):
        """The server restarted: a segment may be numbered anew (by a
        higher number), nothing else changes."""
        self.run_msn = {}

    def check(self, text, msn=None, part=None):
        try:
            pl = parse(text)
            self._alone(pl)
            self._against_history(pl)
            if msn is not None:
                self._answers(pl, msn, part)
        except PlaylistError as e:
            raise PlaylistError("%s\n--- playlist:\n%s" % (e, text))
        self.seen += 1
        return pl

    def _alone(self, pl):
        t = pl.tags
        for name in PLAYLIST_TAGS:
            if name not in t:
                raise PlaylistError("%s missing" % name)
        if t["EXT-X-VERSION"] != "6":
            raise PlaylistError("EXT-X-VERSION %r: EXT-X-MAP needs 6, "
                                "nothing here more (6.2.1)"
                                % t["EXT-X-VERSION"])
        if t["EXT-X-INDEPENDENT-SEGMENTS"]:
            raise PlaylistError("EXT-X-INDEPENDENT-SEGMENTS with a value")
        target = integer(t["EXT-X-TARGETDURATION"], "EXT-X-TARGETDURATION")
        ms = integer(t["EXT-X-MEDIA-SEQUENCE"], "EXT-X-MEDIA-SEQUENCE")
        ds = integer(t["EXT-X-DISCONTINUITY-SEQUENCE"],
                     "EXT-X-DISCONTINUITY-SEQUENCE")
        sc = attributes(t["EXT-X-SERVER-CONTROL"], "EXT-X-SERVER-CONTROL")
        if set(sc) != {"CAN-BLOCK-RELOAD", "PART-HOLD-BACK"} or \
                sc["CAN-BLOCK-RELOAD"] != "YES":
            raise PlaylistError("EXT-X-SERVER-CONTROL %r"
                                % t["EXT-X-SERVER-CONTROL"])
        pi = attributes(t["EXT-X-PART-INF"], "EXT-X-PART-INF")
        if set(pi) != {"PART-TARGET"}:
            raise PlaylistError("EXT-X-PART-INF %r" % t["EXT-X-PART-INF"])
        pt = number(pi["PART-TARGET"], "PART-TARGET")
        phb = number(sc["PART-HOLD-BACK"], "PART-HOLD-BACK")
        if phb < 2 * pt - EPS:
            raise PlaylistError("4.4.3.8: PART-HOLD-BACK %.5f below twice "
                                "PART-TARGET %.5f" % (phb, pt))
        if not 0 < pt <= target:
            raise PlaylistError("PART-TARGET %.5f against target %d"
                                % (pt, target))
        pl.target, pl.part_target = target, pt
        pl.media_sequence, pl.discontinuity_sequence = ms, ds
        if not pl.segments:
            raise PlaylistError("no segment and no part")

        # Numbers (4.4.3.2, 4.4.3.3), names, times.
        dsn = ds
        prev = None
        for i, s in enumerate(pl.segments):
            s.msn = ms + i
            if s.discontinuity:
                dsn += 1
            s.dsn = dsn
            if s.map is None:
                raise PlaylistError("segment %d: no EXT-X-MAP before it"
                                    % s.msn)
            if s.pdt is None:
                raise PlaylistError("segment %d: no EXT-X-PROGRAM-DATE-TIME"
                                    % s.msn)
            if prev is not None and s.pdt <= prev.pdt:
                raise PlaylistError("segment %d: program date %.3f not "
                                    "after the previous one's %.3f"
                                    % (s.msn, s.pdt, prev.pdt))
            if s.uri is not None:
                m = SEG_RE.match(s.uri)
                if not m:
                    raise PlaylistError("segment %d: name %r" % (s.msn,
                                                                 s.uri))
                s.gen, s.first, s.last = (m.group(1), int(m.group(2)),
                                          int(m.group(3)))
                if s.last < s.first:
                    raise PlaylistError("segment %r ends before it starts"
                                        % s.uri)
                if int(s.duration + 0.5) > target:
                    raise PlaylistError("4.4.3.1: segment %d lasts %.5f s, "
                                        "more than the target %d once "
                                        "rounded" % (s.msn, s.duration,
                                                     target))
            if prev is not None and prev.uri is None:
                raise PlaylistError("segment %d after one in progress"
                                    % s.msn)
            prev = s

        # Parts (4.4.4.9, 6.2.2).
        total = sum(s.duration for s in pl.complete)
        if pl.segments[-1].uri is None:
            total += sum(p.duration for p in pl.segments[-1].parts)
        end = 0.0
        with_parts = False
        names = set()
        for s in pl.segments:
            seg_end = end + (s.duration if s.uri is not None else
                             sum(p.duration for p in s.parts))
            if s.parts:
                with_parts = True
                if total - seg_end > 3 * target + EPS:
                    raise PlaylistError("6.2.2: segment %d keeps its part "
                                        "tags %.3f s from the end (3 target "
                                        "durations: %d s)"
                                        % (s.msn, total - seg_end,
                                           3 * target))
            elif with_parts:
                raise PlaylistError("segment %d lists no parts after one "
                                    "that does" % s.msn)
            elif s.uri is not None and total - seg_end < 3 * target - 1 \
                    and total > 3 * target:
                # Each segment ending within three target durations of
                # the end keeps its parts, less a second of slack for the
                # rounding of "within".
                raise PlaylistError("segment %d ends %.3f s from the end "
                                    "and lists no parts" % (s.msn,
                                                            total - seg_end))
            gen = None
            for j, p in enumerate(s.parts):
                if p.uri in names:
                    raise PlaylistError("part %r twice" % p.uri)
                names.add(p.uri)
                if p.duration > pt + EPS:
                    raise PlaylistError("4.4.4.9: part %r lasts %.5f s, "
                                        "more than PART-TARGET %.5f"
                                        % (p.uri, p.duration, pt))
                final = s.uri is not None and j == len(s.parts) - 1
                if p.duration < 0.85 * pt - EPS and not p.independent and \
                        not final and (s.uri is not None or
                                       j < len(s.parts) - 1):
                    self.short_parts.append((p.uri, p.duration, pt))
                    if self.strict_floor:
                        raise PlaylistError("4.4.4.9: part %r lasts %.5f s,"
                                            " less than 85 %% of "
                                            "PART-TARGET %.5f"
                                            % (p.uri, p.duration, pt))
                if j == 0 and not p.independent:
                    raise PlaylistError("segment %d's first part %r is not "
                                        "INDEPENDENT (each segment starts "
                                        "with a keyframe)" % (s.msn, p.uri))
                if j > 0 and p.independent:
                    raise PlaylistError("part %r INDEPENDENT inside its "
                                        "segment (every keyframe starts a "
                                        "segment)" % p.uri)
                if gen is not None and (p.gen != gen or
                                        p.first <= s.parts[j - 1].first):
                    raise PlaylistError("part %r does not follow %r"
                                        % (p.uri, s.parts[j - 1].uri))
                gen = p.gen
            if s.uri is not None and s.parts:
                if abs(sum(p.duration for p in s.parts) - s.duration) > \
                        1e-5 * (len(s.parts) + 1):
                    raise PlaylistError("segment %d: parts add up to %.5f, "
                                        "EXTINF says %.5f" % (
                                            s.msn, sum(p.duration
                                                       for p in s.parts),
                                            s.duration))
                if s.parts[0].gen != s.gen or s.parts[0].first != s.first \
                        or s.parts[-1].first > s.last:
                    raise PlaylistError("segment %r does not match its "
                                        "parts %r .. %r"
                                        % (s.uri, s.parts[0].uri,
                                           s.parts[-1].uri))
            end = seg_end
        if pl.segments[-1].uri is not None and pl.segments[-1].parts == [] \
                and pl.hint is not None:
            raise PlaylistError("a hint after a segment without parts")

        # The hint (4.4.5.3): the part after the newest.
        if pl.hint is not None:
            m = PART_RE.match(pl.hint)
            if not m:
                raise PlaylistError("hint %r is not a part name" % pl.hint)
            gen, first = m.group(1), int(m.group(2))
            last = pl.segments[-1]
            if last.uri is not None:
                if gen != last.gen or first != last.last + 1:
                    raise PlaylistError("hint %r does not follow segment %r"
                                        % (pl.hint, last.uri))
            elif gen != last.parts[-1].gen or first <= last.parts[-1].first:
                raise PlaylistError("hint %r does not follow part %r"
                                    % (pl.hint, last.parts[-1].uri))
        elif pl.segments[-1].uri is None:
            raise PlaylistError("a segment in progress and no hint")

    def _against_history(self, pl):
        if self.target is not None and pl.target != self.target:
            raise PlaylistError("6.2.1: EXT-X-TARGETDURATION changed from "
                                "%d to %d" % (self.target, pl.target))
        if self.part_target is not None and \
                abs(pl.part_target - self.part_target) > EPS:
            raise PlaylistError("PART-TARGET changed from %.5f to %.5f"
                                % (self.part_target, pl.part_target))
        self.target, self.part_target = pl.target, pl.part_target
        if self.last_media_seq is not None and \
                pl.media_sequence < self.last_media_seq:
            raise PlaylistError("6.2.2: EXT-X-MEDIA-SEQUENCE went back from "
                                "%d to %d" % (self.last_media_seq,
                                              pl.media_sequence))
        if self.last_disc_seq is not None and \
                pl.discontinuity_sequence < self.last_disc_seq:
            raise PlaylistError("6.2.2: EXT-X-DISCONTINUITY-SEQUENCE went "
                                "back from %d to %d"
                                % (self.last_disc_seq,
                                   pl.discontinuity_sequence))
        self.last_media_seq = pl.media_sequence
        self.last_disc_seq = pl.discontinuity_sequence
        for s in pl.complete:
            known = self.msn_uri.get(s.msn)
            if known is not None and known != s.uri:
                raise PlaylistError("media sequence number %d names %r now "
                                    "and %r before" % (s.msn, s.uri, known))
            self.msn_uri[s.msn] = s.uri
            nums = self.run_msn.get(s.uri)
            if nums is not None and nums != (s.msn, s.dsn):
                raise PlaylistError("segment %r was %d (discontinuity %d), "
                                    "is %d (%d)" % (s.uri, nums[0], nums[1],
                                                    s.msn, s.dsn))
            self.run_msn[s.uri] = (s.msn, s.dsn)
        for s in pl.segments:
            for p in s.parts:
                d = self.part_dur.get(p.uri)
                if d is not None and abs(d - p.duration) > EPS:
                    raise PlaylistError("part %r lasted %.5f s, now %.5f"
                                        % (p.uri, d, p.duration))
                self.part_dur[p.uri] = p.duration

    def _answers(self, pl, msn, part):
        """6.2.5.2: the answer holds what was asked for, or later."""
        if part is None:
            if not pl.complete or pl.complete[-1].msn < msn:
                raise PlaylistError("asked for segment %d, got a playlist "
                                    "ending at %s" % (
                                        msn, pl.complete[-1].msn
                                        if pl.complete else None))
            return
        lp = pl.last_part()
        if lp is None:
            raise PlaylistError("asked for part %d.%d, got no part"
                                % (msn, part))
        # A part index past a complete segment's last is part 0 of the
        # next segment.
        for s in pl.complete:
            if s.msn == msn and s.parts and part >= len(s.parts):
                msn, part = msn + 1, 0
        if lp < (msn, part) and not (pl.complete and
                                     pl.complete[-1].msn > msn):
            raise PlaylistError("asked for part %d.%d, the newest is %d.%d"
                                % (msn, part, lp[0], lp[1]))
