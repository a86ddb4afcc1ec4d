"""Stage 4: the club's schedule page and calendar, from the papers' ``session`` front matter.

``today`` is always an argument, so tests can place "now" anywhere in the season.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from paperclub import fragments as frag
from paperclub.layout import SiteMap
from paperclub.papers import Paper

DEFAULT_TIME = dt.time(18, 0)
SESSION_MINUTES = 90


@dataclass(frozen=True)
class Schedule:
    upcoming: list[Paper]     # date >= today, soonest first
    past: list[Paper]         # date < today, most recent first
    unscheduled: list[Paper]  # no date yet

    @property
    def next(self) -> Paper | None:
        return self.upcoming[0] if self.upcoming else None


def plan(papers: list[Paper], today: dt.date) -> Schedule:
    dated = [p for p in papers if p.session.date is not None]
    upcoming = sorted((p for p in dated if p.session.date >= today), key=lambda p: (p.session.date, p.slug))
    past = sorted((p for p in dated if p.session.date < today), key=lambda p: (p.session.date, p.slug), reverse=True)
    unscheduled = sorted((p for p in papers if p.session.date is None), key=lambda p: p.slug)
    return Schedule(upcoming, past, unscheduled)


def _row(p: Paper, here: str) -> str:
    s = p.session
    date = s.date.strftime("%a %d %b %Y") if s.date else "—"
    who = frag.text(s.presenter) if s.presenter else "<em>to be announced</em>"
    where = frag.text(s.room) if s.room else "<em>to be announced</em>"
    return (f"| {date}<br>{s.time or DEFAULT_TIME.strftime('%H:%M')} "
            f"| [{frag.cell(p.title)}]({SiteMap.link(here, SiteMap.page(p.slug))}) "
            f"| {who}<br><small>{where}</small> "
            f"| [slides]({SiteMap.link(here, SiteMap.deck(p.slug))}) · "
            f"[handout]({SiteMap.link(here, SiteMap.handout(p.slug))}) |")


def _table(papers: list[Paper], here: str) -> list[str]:
    if not papers:
        return ["*None.*", ""]
    return ['<div class="pc-schedule" markdown>', "",
            "| When | Paper | Presenter, room | Material |", "| --- | --- | --- | --- |",
            *[_row(p, here) for p in papers], "", "</div>", ""]


def schedule_page(papers: list[Paper], today: dt.date) -> str:
    sch = plan(papers, today)
    here = SiteMap.SCHEDULE
    md = ["# Schedule", "",
          f"Sessions of the season as of {today.strftime('%d %b %Y')} (the date of the last build). "
          f"[Add every session to your calendar (.ics)]({SiteMap.link(here, SiteMap.ICS)})"
          "{ download=\"paperclub-sessions.ics\" }.", "",
          "## Upcoming", "", *_table(sch.upcoming, here),
          "## Past", "", *_table(sch.past, here)]
    if sch.unscheduled:
        md += ["## Unscheduled", "", "These papers have no session date yet.", "",
               *[f"- [{frag.text(p.title)}]({SiteMap.link(here, SiteMap.page(p.slug))})" for p in sch.unscheduled], ""]
    return "\n".join(md)


def _box(p: Paper, hidden: bool) -> str:
    """One "next session" box; the browser shows the one whose date is next (see assets/paperclub.js)."""
    s = p.session
    when = s.date.strftime("%A %d %B %Y") + f", {s.time or DEFAULT_TIME.strftime('%H:%M')}"
    who = f"presented by {frag.text(s.presenter)}" if s.presenter else "presenter to be announced"
    where = f" · {frag.text(s.room)}" if s.room else ""
    here = SiteMap.HOME
    return (f'<div class="pc-next" data-date="{s.date.isoformat()}"{" hidden" if hidden else ""} markdown>\n\n'
            f'<p class="pc-next-title">Next session: {when}</p>\n\n'
            f"**[{frag.text(p.title)}]({SiteMap.link(here, SiteMap.page(p.slug))})** — {who}{where}. "
            f"{frag.text(p.tldr)}\n\n"
            f"[Slides]({SiteMap.link(here, SiteMap.deck(p.slug))}) · "
            f"[Handout]({SiteMap.link(here, SiteMap.handout(p.slug))}) · "
            f"[Full schedule]({SiteMap.link(here, SiteMap.SCHEDULE)}) · [Calendar (.ics)]({SiteMap.ICS})\n\n</div>")


def next_session_box(papers: list[Paper], today: dt.date) -> str:
    """The build-time next session (shown without JavaScript), plus every other scheduled session hidden,
    so the browser can show the one that is next on the day the page is read."""
    sch = plan(papers, today)
    dated = sorted((p for p in papers if p.session.date), key=lambda p: (p.session.date, p.slug))
    none = ('<div class="pc-next pc-next-none"' + (" hidden" if sch.next else "") + ' markdown>\n\n'
            '<p class="pc-next-title">Next session</p>\n\nNo session is scheduled yet. '
            f"See the [schedule]({SiteMap.SCHEDULE}).\n\n</div>")
    boxes = [_box(p, hidden=p is not sch.next) for p in dated]
    return '<div class="pc-nextbox" markdown>\n\n' + "\n\n".join(boxes + [none]) + "\n\n</div>"


def _ics(text: str) -> str:
    """Calendar text: some clients render it as HTML, so no angle brackets survive (icalendar escapes the rest)."""
    return text.replace("<", "‹").replace(">", "›")


def calendar(papers: list[Paper]) -> bytes:
    """An iCalendar file with one event per scheduled session (stable UIDs, so updates replace).

    Times are "floating" (the club's local time, no time zone), as the front matter gives them.
    """
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//paperclub//sessions//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "Paper club sessions")
    for p in sorted(papers, key=lambda p: (p.session.date or dt.date.max, p.slug)):
        s = p.session
        if s.date is None:
            continue
        t = dt.time.fromisoformat(s.time) if s.time else DEFAULT_TIME
        start = dt.datetime.combine(s.date, t)
        ev = Event()
        ev.add("uid", f"{p.slug}@paperclub")
        ev.add("summary", _ics(f"Paper club: {p.title}"))
        ev.add("dtstart", start)
        ev.add("dtend", start + dt.timedelta(minutes=SESSION_MINUTES))
        ev.add("dtstamp", dt.datetime.combine(s.date, dt.time(0, 0), tzinfo=dt.timezone.utc))
        if s.room:
            ev.add("location", _ics(s.room))
        desc = p.tldr + (f"\nPresenter: {s.presenter}" if s.presenter else "") + f"\nPaper: {p.links.paper}"
        ev.add("description", _ics(desc))
        cal.add_component(ev)
    return cal.to_ical()
