"""Regenerate the compressed-format test files (see README.md)."""
import math, struct, wave

RATE, N = 16000, 14400  # 0.9 s
frames = bytearray()
phase = 0.0
for i in range(N):
    t = i / RATE
    f = 200.0 + (3000.0 - 200.0) * t / 0.9          # linear chirp 200 -> 3000 Hz
    phase += 2 * math.pi * f / RATE
    fade = min(1.0, t / 0.05, (0.9 - t) / 0.05)       # 50 ms fades
    x = fade * (0.3 * math.sin(2 * math.pi * 440.0 * t) + 0.2 * math.sin(phase))
    frames += struct.pack('<h', max(-32768, min(32767, round(x * 32768))))
with wave.open('tone_chirp_16k.wav', 'wb') as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(RATE); w.writeframes(bytes(frames))
