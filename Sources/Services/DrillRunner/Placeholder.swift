// The drill runner: see Runner.swift.
