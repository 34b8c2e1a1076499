namespace LowBitQuant;

/// <summary>The rotation <see cref="RotationFactory"/> built for a size, and whether (and why) it is a fallback.</summary>
/// <param name="Rotation">The rotation.</param>
/// <param name="IsFallback">True when no Hadamard construction exists for the size and a fallback was used.</param>
/// <param name="Reason">A one-line explanation for reports.</param>
public sealed record RotationChoice(IRotation Rotation, bool IsFallback, string Reason);
