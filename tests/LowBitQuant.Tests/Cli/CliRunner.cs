using System.Diagnostics;

namespace LowBitQuant.Tests.Cli;

/// <summary>Runs the real <c>lowbitquant</c> program (the CLI assembly beside the tests) in a child process.</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "LowBitQuant.Cli.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["NO_COLOR"] = "1";
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"lowbitquant {string.Join(' ', args)} did not finish in 120 s.");
        }

        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Asserts a user error: non-zero exit, exactly one line on stderr, no stack trace.</summary>
    public static string AssertOneLineError(Result result)
    {
        Assert.NotEqual(0, result.ExitCode);
        string[] lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.DoesNotContain("   at ", result.Stderr);
        return lines[0];
    }
}
