using System.Text.Json;

namespace LowBitQuant.Cli;

/// <summary>JSON settings of every <c>--json</c> output.</summary>
internal static class CliJson
{
    public static readonly JsonSerializerOptions Options = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
