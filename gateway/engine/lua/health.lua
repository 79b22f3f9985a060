#!lua
-- The engine's health probe. It reads and writes nothing, but the shebang without flags marks
-- it as a script that may write, so a Redis above maxmemory refuses it with an OOM error: one
-- command tells "answering in time" and "accepting writes" apart.
return 1
