// Reconciler: see Reconciler.swift
