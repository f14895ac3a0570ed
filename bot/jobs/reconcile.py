"""Finding the video a create request may have made, so a job never becomes two videos.

After a crash or an ambiguous answer (a 5xx, a connection reset after sending), the create
may or may not have reached Azure. The reconciler lists recent videos, newest first, back to
the job's admission time (less some clock slack), and takes the first one that matches the
job and belongs to no other job. An endpoint that cannot list (some proxies answer 400 or
405) raises ``CannotList``: the caller must not create again blindly.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.sora import InvalidRequestError, NotSupportedError, SoraClient, SoraError, Video
from bot.store import Job, JobKind, Store


class CannotList(SoraError):
    """The endpoint does not list videos, so whether a create reached it cannot be known."""


class Reconciler:
    def __init__(self, store: Store, sora: Callable[[Job], SoraClient], skew: float) -> None:
        self.store = store
        self.sora = sora  # the client of the backend the job went to (ids are per resource)
        self.skew = skew

    def matches(self, job: Job, video: Video) -> bool:
        if video.prompt is not None and video.prompt != job.prompt:
            return False
        if job.kind == JobKind.REMIX:
            return job.parent_video_id is None or (
                video.remixed_from_video_id == job.parent_video_id
            )
        if video.remixed_from_video_id:
            return False
        return video.size in (None, job.size) and video.seconds in (None, str(job.seconds))

    async def find(self, job: Job) -> Video | None:
        since = (job.admitted_at or job.submitted_at or job.created_at) - self.skew
        try:
            async for video in self.sora(job).iter_videos(order="desc", page_size=50):
                if video.created_at is not None and video.created_at < since:
                    return None
                if self.matches(job, video):
                    owner = await self.store.find_by_video_id(video.id)
                    if owner is None or owner.id == job.id:
                        return video
        except (InvalidRequestError, NotSupportedError) as exc:
            raise CannotList(str(exc)) from exc
        return None
