using System.Globalization;
using PapaActors.Actors.Files;
using PapaActors.Actors.Population;
using ScottPlot;

namespace PapaActors.Host;

/// <summary>
/// PNG plots of a run folder's metrics.csv: training loss by step and held-out accuracy by epoch, per member; and,
/// when they were measured, the change of held-out accuracy at each mix and the members' feature similarity by epoch.
/// </summary>
internal static class RunPlots
{
    private sealed record Row(int Member, int Epoch, double Step, double Loss, double? HeldOut, double? BeforeMix, double? AfterMix, double? CkaMean, double? CkaMin);

    public static IReadOnlyList<string> Write(string folder)
    {
        var lines = File.ReadLines(Path.Combine(folder, RunRecorder.MetricsFile)).ToList();
        var header = lines[0].Split(',').Select((name, i) => (name, i)).ToDictionary(c => c.name, c => c.i);
        double? Optional(string[] f, string column) => f[header[column]] is { Length: > 0 } text ? double.Parse(text, CultureInfo.InvariantCulture) : null;
        var rows = lines.Skip(1).Select(line => line.Split(','))
            .Select(f => new Row(int.Parse(f[0], CultureInfo.InvariantCulture), int.Parse(f[2], CultureInfo.InvariantCulture),
                double.Parse(f[3], CultureInfo.InvariantCulture), double.Parse(f[4], CultureInfo.InvariantCulture), Optional(f, "held_out_accuracy"),
                Optional(f, "held_out_before_mix"), Optional(f, "held_out_after_mix"), Optional(f, "feature_cka_mean"), Optional(f, "feature_cka_min")))
            .ToList();
        var members = rows.GroupBy(r => r.Member).OrderBy(g => g.Key).ToList();

        var loss = new Plot();
        var heldOut = new Plot();
        var mixGain = new Plot();
        foreach (var member in members)
        {
            loss.Add.ScatterLine(member.Select(r => r.Step).ToArray(), member.Select(r => r.Loss).ToArray()).LegendText = $"member {member.Key}";
            var epochs = member.Where(r => r.HeldOut.HasValue).ToList();
            if (epochs.Count > 0)
                heldOut.Add.Scatter(epochs.Select(r => r.Epoch + 1.0).ToArray(), epochs.Select(r => r.HeldOut!.Value).ToArray()).LegendText = $"member {member.Key}";
            var mixes = member.Where(r => r.BeforeMix.HasValue && r.AfterMix.HasValue).ToList();
            if (mixes.Count > 0)
                mixGain.Add.Scatter(mixes.Select(r => r.Step).ToArray(), mixes.Select(r => r.AfterMix!.Value - r.BeforeMix!.Value).ToArray()).LegendText = $"member {member.Key}";
        }
        Label(loss, "Training loss", "step", "mean loss of the round");
        Label(heldOut, "Held-out accuracy", "epoch", "accuracy");
        var paths = new List<string> { Save(loss, folder, "loss.png"), Save(heldOut, folder, "held-out-accuracy.png") };

        if (rows.Any(r => r.BeforeMix.HasValue && r.AfterMix.HasValue))
        {
            mixGain.Add.HorizontalLine(0, color: Colors.Gray);
            Label(mixGain, "Held-out accuracy gained by each mix (after - before)", "step of the mix", "accuracy after - before");
            paths.Add(Save(mixGain, folder, "mix-gain.png"));
        }

        // The same on every member's row of an epoch end: one point per epoch.
        var similarity = rows.Where(r => r.CkaMean.HasValue).GroupBy(r => r.Epoch).Select(g => g.First()).OrderBy(r => r.Epoch).ToList();
        if (similarity.Count > 0)
        {
            var plot = new Plot();
            var epochs = similarity.Select(r => r.Epoch + 1.0).ToArray();
            plot.Add.Scatter(epochs, similarity.Select(r => r.CkaMean!.Value).ToArray()).LegendText = "mean over member pairs";
            plot.Add.Scatter(epochs, similarity.Select(r => r.CkaMin!.Value).ToArray()).LegendText = "least similar pair";
            Label(plot, "Feature similarity of the members (linear CKA of penultimate features)", "epoch", "CKA");
            paths.Add(Save(plot, folder, "feature-similarity.png"));
        }
        return paths;
    }

    private static void Label(Plot plot, string title, string x, string y)
    {
        plot.Title(title);
        plot.XLabel(x);
        plot.YLabel(y);
        plot.ShowLegend();
    }

    private static string Save(Plot plot, string folder, string name)
    {
        var path = Path.Combine(folder, name);
        WholeFile.Write(path, temporary => plot.SavePng(temporary, 900, 500));
        return path;
    }
}
