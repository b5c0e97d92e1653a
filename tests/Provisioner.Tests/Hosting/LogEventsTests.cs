using System.Reflection;
using Microsoft.Extensions.Logging;

namespace Kldload.Provisioner.Tests.Hosting;

/// <summary>Every log message of the host has its own event id, taken from the one table.</summary>
public sealed class LogEventsTests
{
    private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;

    private static List<(string Method, int EventId)> Messages() =>
        typeof(LogEvents).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(All))
            .Select(m => (Method: $"{m.DeclaringType!.FullName}.{m.Name}", Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(x => x.Attribute is not null)
            .Select(x => (x.Method, x.Attribute!.EventId))
            .ToList();

    [Fact]
    public void EventIds_AreUniquePerMessage()
    {
        var messages = Messages();
        Assert.True(messages.Count > 40, $"only {messages.Count} log messages found");
        var shared = messages.GroupBy(m => m.EventId).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Method))}").ToList();
        Assert.True(shared.Count == 0, "event ids used by more than one message: " + string.Join("; ", shared));
    }

    [Fact]
    public void EventIds_AllComeFromTheTable()
    {
        var table = typeof(LogEvents).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (int)f.GetRawConstantValue()!).ToHashSet();
        Assert.Equal(table.Count, typeof(LogEvents).GetFields(BindingFlags.Public | BindingFlags.Static).Length);
        var outside = Messages().Where(m => !table.Contains(m.EventId)).Select(m => $"{m.Method} ({m.EventId})").ToList();
        Assert.True(outside.Count == 0, "log messages whose event id is not in LogEvents: " + string.Join(", ", outside));
    }
}
