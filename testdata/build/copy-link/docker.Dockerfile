FROM busybox:latest
RUN mkdir -p /real && ln -s /real /dest
COPY f.txt /linked/f.txt
RUN rm /dest && mkdir /dest
COPY f.txt /dest/
COPY --chown=1000:1000 f.txt /owned/
WORKDIR /w
COPY f.txt .
