FROM busybox:latest
ARG name=world
RUN name="new world"; echo "Hello ${name}!" > /greeting; mkdir -p /made
RUN echo "tabs stripped" > /tabs
RUN echo "inline heredoc with $name" > /inline.txt
