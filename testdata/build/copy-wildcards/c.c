c.c
