FROM busybox:latest
COPY foo1/foo2/bar /foo1/foo2/bar
COPY x/y/z/file /out/y/z/file
COPY foo1/foo2/bar /globbed/foo1/foo2/
COPY x/y/z/file x/y/z/other /globbed/x/y/z/
