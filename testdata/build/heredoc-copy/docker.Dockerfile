FROM busybox:latest
ARG name=world
RUN printf 'Hello "world"! $literal \\back\n' > /expanded
RUN printf 'Hello "${name}"!\n' > /literal
RUN printf 'tab stripped\n' > /tabs
RUN mkdir /dir && printf 'first\n' > /dir/A && printf 'second\n' > /dir/B
RUN printf '#!/bin/sh\necho hi\n' > /script.sh && chmod 755 /script.sh
