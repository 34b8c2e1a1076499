namespace LowBitQuant.Cli;

/// <summary>Runs a command body and turns every failure into one line on stderr and a non-zero exit code, never a stack trace.</summary>
internal static class CommandRunner
{
    /// <summary>Exit code for bad input (arguments, files).</summary>
    public const int UserError = 2;

    /// <summary>Exit code for a cancelled run.</summary>
    public const int Cancelled = 130;

    /// <summary>Exit code for an unexpected internal failure.</summary>
    public const int InternalError = 3;

    public static int Run(Func<CancellationToken, int> body)
    {
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return body(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("lowbitquant: cancelled; nothing was written.");
            return Cancelled;
        }
        catch (Exception ex) when (ex is ArgumentException or IOException or NotSupportedException
            or InvalidOperationException or KeyNotFoundException or UnauthorizedAccessException or FormatException or System.Text.Json.JsonException)
        {
            Console.Error.WriteLine($"lowbitquant: error: {OneLine(ex.Message)}");
            return UserError;
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"lowbitquant: internal error ({ex.GetType().Name}): {OneLine(ex.Message)}");
            return InternalError;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");
}
