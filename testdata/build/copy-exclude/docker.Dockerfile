FROM busybox:latest
COPY src/a.go src/keep.txt /app/
COPY Dockerfile /ctx/
COPY src/a.go src/debug.log /ctx/src/
COPY src/logs /ctx/src/logs/
COPY dir1 /ctx/dir1/
RUN mkdir /empty
