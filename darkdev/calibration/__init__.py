"""Your own camera: calibrate its noise from dark and flat frames, subtract dark frames.

numpy only (never torch). Modules: frames (reading calibration raws), darks (dark frames: master
dark, black-level error, read and row noise), distributions (Gaussian / Tukey-lambda fits),
ptc (flats: system gain by photon transfer), fits (log-linear relations across ISOs), calibrate
(the whole run), profile (the profile's schema and writing it), camera_profile (reading it back:
noise at any ISO, master darks), darkframe (dark-frame subtraction in develop), plots (--plot).
"""
