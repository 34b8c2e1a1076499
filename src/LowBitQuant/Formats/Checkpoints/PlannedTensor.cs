using LowBitQuant.Formats.Safetensors;

namespace LowBitQuant.Formats.Checkpoints;

/// <summary>One tensor of a checkpoint being written: its name, size in bytes and how to add it to a shard's writer.</summary>
internal sealed record PlannedTensor(string Name, long Bytes, Action<SafetensorsWriter> AddTo);
